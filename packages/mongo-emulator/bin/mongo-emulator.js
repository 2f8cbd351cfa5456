#!/usr/bin/env node
// The `mongo-emulator` command: runs the package's TypeScript sources through tsx (the package is
// never compiled or published). Usage: mongo-emulator --help
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli.ts');
