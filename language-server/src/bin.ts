import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { nullParamsStrategy, startServer } from './server.js';

// stdout carries the protocol: anything else printed there would corrupt it.
const connection = createConnection(ProposedFeatures.all, { messageStrategy: nullParamsStrategy });
console.log = (...args: unknown[]) => {
  connection.console.log(args.map(String).join(' '));
};
console.info = console.log;
console.warn = (...args: unknown[]) => {
  connection.console.warn(args.map(String).join(' '));
};
process.on('unhandledRejection', (reason) => {
  connection.console.error(`xp: unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}`);
});
startServer(connection);
