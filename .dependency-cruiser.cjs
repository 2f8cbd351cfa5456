/**
 * The floor plan of src/, checked by `npm run lint` (dependency-cruiser). Each entry is a floor;
 * a file may import from its own floor and the floors listed before it, never from one after it
 * (docs/architecture.md shows the tree). Within a floor, folders that are siblings do not import
 * each other unless the later one is listed as `uses`. No cycle anywhere.
 */
const FLOORS = [
  { name: 'ground', paths: ['src/errors\\.ts', 'src/redact\\.ts', 'src/log\\.ts', 'src/retry\\.ts', 'src/bson/', 'src/hours/'] },
  { name: 'config', paths: ['src/config/'] },
  { name: 'spool', paths: ['src/spool/'] },
  { name: 'ledger', paths: ['src/ledger/'] },
  { name: 'deliver', paths: ['src/deliver/'] },
  { name: 'source', paths: ['src/source/'] },
  { name: 'seal', paths: ['src/seal/'] },
  { name: 'reconcile', paths: ['src/reconcile/'] },
  { name: 'observe', paths: ['src/observe/'] },
  { name: 'ops', paths: ['src/ops/'] },
  { name: 'top', paths: ['src/(?!(errors|redact|log|retry)\\.ts$)[^/]+\\.ts$', 'src/cli/'] },
];

const anyOf = (paths) => `^(${paths.join('|')})`;

const upward = FLOORS.slice(0, -1).map((floor, i) => ({
  name: `no-upward-from-${floor.name}`,
  comment: `${floor.name} sits below ${FLOORS.slice(i + 1).map((f) => f.name).join(', ')}: it may not import from them`,
  severity: 'error',
  from: { path: anyOf(floor.paths) },
  to: { path: anyOf(FLOORS.slice(i + 1).flatMap((f) => f.paths)) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle, in src/ or in the workspace packages',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'src-is-the-shipped-package',
      comment: 'src/ is what npm ships: it never imports tests, benchmarks, scripts, the demo or the emulator package',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts|demo|packages)/|mongo-emulator' },
    },
    {
      name: 'emulator-stands-alone',
      comment: 'The emulator package does not import the archiver',
      severity: 'error',
      from: { path: '^packages/mongo-emulator/' },
      to: { path: '^(src|test|bench|scripts|demo)/' },
    },
    {
      name: 'emulator-declares-its-dependencies',
      comment: 'What the emulator package imports is in its own package.json',
      severity: 'error',
      from: { path: '^packages/mongo-emulator/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-dev-dependency-in-src',
      comment: 'What src/ imports must be a production dependency of the package',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev', 'npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
