import { isDataError, isTransientDbError, retryableDbError } from '../../src/platform/postgres/pg-errors';
import { OverloadedError } from '../../src/core/errors';

const withCode = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('PostgreSQL error classes', () => {
  it('counts dropped connections as transient, however knex prefixes them', () => {
    for (const error of [
      withCode('Connection terminated unexpectedly'),
      withCode('COMMIT; - Connection terminated unexpectedly'),
      withCode('ROLLBACK - Client has encountered a connection error and is not queryable'),
      withCode('BEGIN; - terminating connection due to administrator command', '57P01'),
      withCode('canceling statement due to statement timeout', '57014'),
      withCode('could not serialize access', '40001'),
      withCode('deadlock detected', '40P01'),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' }),
    ]) {
      expect({ message: error.message, transient: isTransientDbError(error) }).toEqual({
        message: error.message,
        transient: true,
      });
    }
  });

  it('counts every connection exception (class 08) and every shutdown or refusal (57P0x) as transient', () => {
    for (const code of [
      '08000',
      '08001',
      '08003',
      '08004',
      '08006',
      '08007',
      '08P01',
      '57P01',
      '57P02',
      '57P03',
      '57P04',
      '57P05',
    ]) {
      expect({ code, transient: isTransientDbError(withCode('the connection went', code)) }).toEqual({
        code,
        transient: true,
      });
    }
  });

  it('counts a database that refuses connections (55000 at connection time) as transient, and maps it to OVERLOADED', () => {
    // What pg reports while `ALTER DATABASE … ALLOW_CONNECTIONS false` holds (PostgreSQL 15).
    const refused = Object.assign(withCode('database "parley" is not currently accepting connections', '55000'), {
      severity: 'FATAL',
      routine: 'CheckMyDatabase',
    });
    expect(isTransientDbError(refused)).toBe(true);
    // The same, from a server whose lc_messages translates the severity.
    expect(isTransientDbError({ ...refused, message: refused.message, severity: 'SCHWERWIEGEND' })).toBe(true);
    const mapped = retryableDbError(refused);
    expect(mapped).toBeInstanceOf(OverloadedError);
    expect(mapped).toMatchObject({
      code: 'OVERLOADED',
      http: { status: 503, headers: { 'retry-after': '1' } },
      cause: refused,
    });
  });

  it('does not retry a statement that is in the wrong state (55000 as an ERROR): a bug stays a 500', () => {
    const currval = Object.assign(withCode('currval of sequence "s" is not yet defined in this session', '55000'), {
      severity: 'ERROR',
      routine: 'currval_oid',
    });
    expect(isTransientDbError(currval)).toBe(false);
    expect(retryableDbError(currval)).toBeUndefined();
    expect(isTransientDbError(withCode('no severity known', '55000'))).toBe(false);
    // Its neighbours of class 55 are not connection states either (55006 object_in_use).
    expect(isTransientDbError(withCode('database is being accessed by other users', '55006'))).toBe(false);
  });

  it('tells faults in the data apart: they are never transient', () => {
    const foreignKey = withCode('insert violates foreign key constraint', '23503');
    const nul = withCode('invalid byte sequence for encoding "UTF8": 0x00', '22021');
    for (const error of [foreignKey, nul]) {
      expect(isDataError(error)).toBe(true);
      expect(isTransientDbError(error)).toBe(false);
    }
    expect(isTransientDbError(withCode('value "Connection terminated" is too long', '22001'))).toBe(false);
    expect(isDataError(withCode('relation "messages" does not exist', '42P01'))).toBe(false);
  });
});
