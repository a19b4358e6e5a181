/**
 * An aedes broker as a child process for the benchmark: listens on
 * 127.0.0.1, an ephemeral port, prints `PORT <n>` on stdout once listening,
 * and exits on SIGTERM or when stdin closes (so it never outlives the bench).
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);

// No graceful close: aedes 1.2 overflows its stack closing 10,000 clients at once, and a bench
// broker has nothing to save. Exiting closes every socket.
const shutdown = (): void => process.exit(0);
process.on('SIGTERM', shutdown);
process.stdin.on('end', shutdown);
process.stdin.resume();
