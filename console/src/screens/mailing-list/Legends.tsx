import { emailStatusLabel, RESULT_CODES, resultCodeMessage } from '../../../../src/shared/i18n.ts';
import { useLang, useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import { STATUS_CODES } from './search.ts';
import { Th } from './ui.tsx';

/** The guide's tables of the 8 send statuses and the 28 send result codes. */
export function Legends() {
  const t = useT(m);
  const { lang } = useLang();
  const codes = [...RESULT_CODES].sort();
  return (
    <div className="ml-legends">
      <details>
        <summary>{t('statusLegend')}</summary>
        <table className="list ml-legend" aria-label={t('statusLegend')}>
          <thead>
            <tr>
              <Th>{t('state')}</Th>
              <Th>{t('description')}</Th>
            </tr>
          </thead>
          <tbody>
            {STATUS_CODES.map((c) => (
              <tr key={c}>
                <td className="ml-nowrap">
                  <span className={`status ml-status ml-status-${c}`}>{emailStatusLabel(c, lang).label}</span>
                </td>
                <td>{t(`status${c}`)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <details>
        <summary>{t('resultCodeLegend')}</summary>
        <table className="list ml-legend" aria-label={t('resultCodeLegend')}>
          <thead>
            <tr>
              <Th>{t('code')}</Th>
              <Th>{t('description')}</Th>
            </tr>
          </thead>
          <tbody>
            {codes.map((c) => (
              <tr key={c}>
                <td>
                  <code className="ml-code">{c}</code>
                </td>
                <td>{resultCodeMessage(c, lang)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}
