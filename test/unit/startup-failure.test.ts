import { describe, expect, it } from '@jest/globals';
import { startupFailureCause } from '../../src/main.ts';

describe('startupFailureCause: one plain line', () => {
  it('joins an error and its causes, newlines folded', () => {
    const err = new Error('embedded PostgreSQL in /x/pg did not start: FATAL:  lock file "postmaster.pid" already exists', {
      cause: new Error('exit 1\nmore'),
    });
    expect(startupFailureCause(err)).toBe('embedded PostgreSQL in /x/pg did not start: FATAL:  lock file "postmaster.pid" already exists: exit 1 more');
  });

  it('uses the code or the first inner error when the message is empty (pg connection errors)', () => {
    const refused = Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })], ''), {
      code: 'ECONNREFUSED',
    });
    expect(startupFailureCause(refused)).toBe('connect ECONNREFUSED 127.0.0.1:5432');
    expect(startupFailureCause(Object.assign(new Error(''), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(startupFailureCause(new AggregateError([new Error('connect ECONNREFUSED ::1:5432')], ''))).toBe('connect ECONNREFUSED ::1:5432');
  });

  it('says something for nothing at all', () => {
    expect(startupFailureCause(undefined)).toBe('unknown error');
  });
});
