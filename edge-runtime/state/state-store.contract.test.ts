import { runStateStoreContract } from './state-store-contract.ts';
import { LocalStateStore } from './local-store.ts';
import { WorkerStateStore } from './worker-store.ts';

runStateStoreContract({ name: 'LocalStateStore (in-process)', open: (o) => LocalStateStore.open(o) });
runStateStoreContract({ name: 'WorkerStateStore (worker thread)', open: (o) => WorkerStateStore.open(o) });
