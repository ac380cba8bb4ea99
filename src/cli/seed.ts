import { runTool } from './run-tool';
import { seedDemo } from './seeds/demo';

/** `npm run seed`: the demo account, bots and sources. Safe to run again. */
runTool('seed', async ({ db, log }) => seedDemo(await db(), log));
