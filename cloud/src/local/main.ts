/** `npm start` entry point. The local platform (API and console) is assembled here as it is built. */
import { PACKAGE_NAME } from '../index.js';

console.log(`${PACKAGE_NAME}: the local API and console are not built yet.`);
console.log('Available today: the evaluation engine and statistics in @xp/shared (npm test), and `npm run bench`.');
