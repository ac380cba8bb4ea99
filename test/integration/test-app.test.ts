import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { adminConnection, dropDatabase, templateDatabase } from '../helpers/databases';
import { startTestApp } from '../helpers/test-app';

/**
 * The test app leaves no database behind, whichever step fails. Its databases are cloned
 * from a template of this file's own, so that the ones it makes can be told apart from
 * those of test files running beside it.
 */
describe('startTestApp and close', () => {
  const sharedTemplate = templateDatabase();
  // Clones are named after the template: `…_helpertemplate` makes `…_helper<hex>`.
  const ownTemplate = `${sharedTemplate.replace(/template$/, '')}helpertemplate`;
  const clonePrefix = ownTemplate.replace(/template$/, '');

  async function clones(): Promise<string[]> {
    const admin = adminConnection();
    try {
      const { rows } = await admin.raw<{ rows: { datname: string }[] }>(
        `SELECT datname FROM pg_database WHERE starts_with(datname, ?) AND datname <> ?`,
        [clonePrefix, ownTemplate],
      );
      return rows.map((row) => row.datname);
    } finally {
      await admin.destroy();
    }
  }

  beforeAll(async () => {
    const admin = adminConnection();
    try {
      // Other files clone the shared template at the same moment; a short retry settles it.
      for (let attempt = 1; ; attempt++) {
        try {
          await admin.raw('CREATE DATABASE ?? TEMPLATE ??', [ownTemplate, sharedTemplate]);
          break;
        } catch (error: unknown) {
          if (attempt >= 10 || !String((error as Error).message).includes('being accessed by other users')) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
    } finally {
      await admin.destroy();
    }
    process.env.PARLEY_TEST_TEMPLATE = ownTemplate;
  });

  afterAll(async () => {
    process.env.PARLEY_TEST_TEMPLATE = sharedTemplate;
    const admin = adminConnection();
    try {
      for (const name of [...(await clones()), ownTemplate]) await dropDatabase(admin, name);
    } finally {
      await admin.destroy();
    }
  });

  it('drops its database when the configuration is invalid', async () => {
    await expect(startTestApp({ PORT: 'not-a-port' })).rejects.toThrow(/PORT/);
    expect(await clones()).toEqual([]);
  });

  it('closes what it opened and drops its database when the port is taken', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = String((taken.address() as AddressInfo).port);
      await expect(startTestApp({ PORT: port })).rejects.toThrow(`Port 127.0.0.1:${port} is taken by another process`);
      expect(await clones()).toEqual([]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('runs every step of close() when some fail, then rejects with the first failure', async () => {
    const app = await startTestApp();
    expect(await clones()).toHaveLength(1);
    expect((await fetch(`${app.url}/health`)).status).toBe(200);

    const worker = app.startWorker();
    const stopWorker = worker.stop.bind(worker);
    worker.stop = async () => {
      await stopWorker();
      throw new Error('the worker would not stop');
    };
    const closeClients = app.deps.clients.close.bind(app.deps.clients);
    app.deps.clients.close = async () => {
      await closeClients();
      throw new Error('the pool would not close');
    };

    await expect(app.close()).rejects.toThrow('the worker would not stop');
    // The steps after the failures ran: the server no longer answers, the database is gone.
    await expect(fetch(`${app.url}/health`)).rejects.toThrow();
    expect(await clones()).toEqual([]);
  });
});
