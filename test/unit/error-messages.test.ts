import { describe, expect, it } from '@jest/globals';
import { localiseErrorMessage } from '../../src/shared/error-messages.ts';

describe('localiseErrorMessage', () => {
  it('leaves English as it is', () => {
    expect(localiseErrorMessage('senderAddress: required when templateSid is not given', 'en')).toBe('senderAddress: required when templateSid is not given');
  });

  it.each([
    [
      'senderAddress: required when templateSid is not given',
      'senderAddress: templateSid이(가) 없으면 필수입니다',
      'senderAddress: templateSid を指定しない場合は必須です',
    ],
    [
      'recipients[1].address: "bad@" is not a valid e-mail address',
      'recipients[1].address: "bad@" 올바른 이메일 주소가 아닙니다',
      'recipients[1].address: "bad@" 有効なメールアドレスではありません',
    ],
    ['title: at most 500 bytes', 'title: 최대 500바이트입니다', 'title: 最大 500 バイトです'],
    [
      'requestId: request 20250101000000001 does not exist',
      'requestId: request 20250101000000001이(가) 존재하지 않습니다',
      'requestId: request 20250101000000001 は存在しません',
    ],
    ['reservationUtc: the reservation time is in the past', 'reservationUtc: 예약 시간이 과거입니다', 'reservationUtc: 予約日時が過去です'],
    ['Malformed JSON body', 'JSON 본문의 형식이 올바르지 않습니다', 'JSON 本文の形式が正しくありません'],
    ['Unsupported method type', '지원하지 않는 메서드입니다', 'サポートされていないメソッドです'],
    ['accessKey: key AbC is already revoked', 'accessKey: 키 AbC은(는) 이미 폐기되었습니다', 'accessKey: キー AbC はすでに無効化されています'],
    [
      'accessKey: the key this request is signed with cannot be revoked; use another key of the project to revoke it',
      'accessKey: 이 요청에 사용 중인 키는 폐기할 수 없습니다. 프로젝트의 다른 키로 폐기하세요',
      'accessKey: このリクエストで使用中のキーは無効化できません。プロジェクトの別のキーで無効化してください',
    ],
    ['accessKey: key AbC does not exist', 'accessKey: key AbC이(가) 존재하지 않습니다', 'accessKey: key AbC は存在しません'],
  ])('%s', (en, ko, ja) => {
    expect(localiseErrorMessage(en, 'ko')).toBe(ko);
    expect(localiseErrorMessage(en, 'ja')).toBe(ja);
  });

  it('translates each of several validator messages, keeping field names', () => {
    expect(localiseErrorMessage('individual: must be boolean; recipients[0].address: must be string', 'ko')).toBe(
      'individual: 불리언(true/false)이어야 합니다; recipients[0].address: 문자열이어야 합니다',
    );
  });

  it('keeps a rule that itself holds "; " in one piece', () => {
    const en = 'body: unknown meta tag #{FOO}; the meta tags are #{RECIPIENT_NAME}, #{SENDER_NAME}';
    expect(localiseErrorMessage(en, 'ja')).toBe('body: 不明なメタタグ #{FOO} です。使用できるメタタグ: #{RECIPIENT_NAME}, #{SENDER_NAME}');
  });

  it('leaves a rule it has no translation for in English', () => {
    expect(localiseErrorMessage('file: one file per upload', 'ko')).toBe('file: one file per upload');
  });
});
