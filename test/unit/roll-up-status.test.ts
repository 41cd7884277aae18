import { describe, it, expect } from '@jest/globals';
import { rollUpStatus } from '../../src/modules/lifecycle/roll-up-status.ts';

type Row = [name: string, counts: Partial<Record<string, number>>, expected: ReturnType<typeof rollUpStatus>];

const rows: Row[] = [
  // empty
  ['empty', {}, null],
  ['only zero counts', { S: 0, F: 0 }, null],

  // single status
  ['S only', { S: 3 }, 'S'],
  ['F only', { F: 2 }, 'F'],
  ['PF only (mails)', { PF: 1 }, 'PF'],
  ['U only', { U: 4 }, 'U'],
  ['C only', { C: 2 }, 'C'],

  // mixes
  ['S + F → PF', { S: 1, F: 1 }, 'PF'],
  ['S + PF → PF', { S: 5, PF: 1 }, 'PF'],
  ['F + PF → PF', { F: 5, PF: 1 }, 'PF'],
  ['PF + U → PF', { PF: 1, U: 1 }, 'PF'],
  ['S + U → S (unsubscribed allowed)', { S: 2, U: 1 }, 'S'],
  ['F + U → F', { F: 2, U: 1 }, 'F'],
  ['S + F + U → PF', { S: 1, F: 1, U: 1 }, 'PF'],
  ['S + C → S', { S: 1, C: 1 }, 'S'],
  ['F + C → F', { F: 1, C: 1 }, 'F'],
  ['U + C → U', { U: 1, C: 1 }, 'U'],
  ['zero S with F → F', { S: 0, F: 1 }, 'F'],
  ['zero F with S → S', { S: 1, F: 0 }, 'S'],

  // pending: not final
  ['R only → null', { R: 2 }, null],
  ['I only → null', { I: 1 }, null],
  ['P only → null', { P: 1 }, null],
  ['R + I + P only → null', { R: 1, I: 1, P: 1 }, null],
  ['some pending → I', { S: 1, I: 1 }, 'I'],
  ['pending with F → I', { F: 3, R: 1 }, 'I'],
  ['pending with PF → I', { PF: 1, P: 1 }, 'I'],
  ['pending with U → I', { U: 1, I: 2 }, 'I'],
];

describe('rollUpStatus', () => {
  it.each(rows)('%s', (_name, counts, expected) => {
    expect(rollUpStatus(counts)).toBe(expected);
  });

  it('ignores undefined entries', () => {
    expect(rollUpStatus({ S: 1, F: undefined })).toBe('S');
  });
});
