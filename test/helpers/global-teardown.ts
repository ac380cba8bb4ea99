import { adminConnection, dropDatabase, templateDatabase } from './databases';

/** Drops this run's template; each test file drops its own database. */
export default async function globalTeardown(): Promise<void> {
  const admin = adminConnection();
  try {
    await dropDatabase(admin, templateDatabase());
  } finally {
    await admin.destroy();
  }
}
