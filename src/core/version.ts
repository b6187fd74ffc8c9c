import { createRequire } from 'node:module';

// Both src/core and dist/core sit two levels below the package root.
const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { name: string; version: string };

/** The package version, recorded in every result's meta so runs can be reproduced. */
export const VERSION: string = pkg.version;
