import { runDbScript } from './run-db-script';
import { seedDemo } from './seeds/demo';

/** `npm run seed`: the demo account, bots and sources. Safe to run again. */
runDbScript('seed', ({ db, log }) => seedDemo(db, log));
