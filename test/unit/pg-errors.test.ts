import { isDataError, isTransientDbError } from '../../src/db/pg-errors';

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
