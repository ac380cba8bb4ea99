// The floors of the code, checked by `make check` (npm run lint:layers). A module imports from
// its own layer or the layers below it, never from one above, and no two folders import each
// other, however indirectly. docs/architecture.md describes each layer.

/** Bottom first. Each entry: a name and the folders (under the repository root) that make it up. */
const LAYERS = [
  // Errors, ids, the logger, validation helpers: used everywhere, import nothing of ours.
  ['core', ['src/core']],
  ['config', ['src/config']],
  // Connections to PostgreSQL and Redis, key names, migrations.
  ['platform', ['src/platform']],
  ['repos', ['src/repos']],
  // The Redis layer and what reads through it.
  ['stores', ['src/cache', 'src/sessions', 'src/pubsub', 'src/buffer', 'src/rate-limits', 'src/loaders']],
  ['domain', ['src/auth', 'src/bots', 'src/sources', 'src/search', 'src/chat']],
  ['graphql', ['src/graphql']],
  ['transports', ['src/http']],
  // What starts processes and wires them: src/main.ts, src/app-deps.ts, command-line tools, the worker.
  ['runtime', ['src/[^/]+\\.ts$', 'src/cli', 'worker']],
];

const pathsOf = (folders) => `^(${folders.map((folder) => (folder.endsWith('$') ? folder : `${folder}/`)).join('|')})`;

const layerRules = LAYERS.slice(0, -1).map(([name, folders], index) => ({
  name: `${name}-imports-upward`,
  comment: `${name} (${folders.join(', ')}) may import only from itself and the layers below it`,
  severity: 'error',
  from: { path: pathsOf(folders) },
  to: { path: pathsOf(LAYERS.slice(index + 1).flatMap(([, above]) => above)) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'src-imports-worker',
      comment: 'the api never imports the worker (the worker may import src/)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^worker/' },
    },
    {
      name: 'no-circular',
      comment: 'a module that reaches itself through its imports',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      comment: 'two folders that import each other, however indirectly',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type that runs back up a layer ties the floors together as surely.
    moduleSystems: ['cjs', 'es6'],
  },
};
