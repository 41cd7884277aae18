import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { startTestSink, type TestSink } from './smtp-sink.ts';
import { createTestDb, type TestDb } from './test-db.ts';
import { startTestService, type TestService } from './test-service.ts';

type ServiceOpts = Omit<Parameters<typeof startTestService>[0], 'smtpUrl'>;

/**
 * Stands for an instance that a beforeAll hook creates later: a file declares it once at its top
 * and uses it in tests and helpers as if it were the instance. Used outside the hooks' lifetime it
 * throws, naming what was missing, instead of failing later on `undefined`.
 */
function lateBound<T extends object>(what: string, current: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, prop) {
      const target = current();
      if (!target) throw new Error(`${what} used before its beforeAll hook ran (or after its afterAll)`);
      // Not bound: the helpers' methods are closures, and binding would replace a function-valued
      // property (the express app) with a copy without its own properties.
      return Reflect.get(target, prop, target);
    },
  });
}

/** One instance for the file: started in beforeAll, stopped in afterAll. */
function useForFile<T extends object>(
  what: string,
  start: () => Promise<T>,
  stop: (instance: T) => Promise<void>,
): { instance: T; current: () => T | undefined } {
  let instance: T | undefined;
  beforeAll(async () => {
    instance = await start();
  });
  afterAll(async () => {
    if (instance) await stop(instance);
    instance = undefined;
  });
  return { instance: lateBound(what, () => instance), current: () => instance };
}

/**
 * A fresh database for the file (createTestDb), dropped in afterAll: for tests without the
 * service. The drop runs before the file's own afterAll hooks (declaration order), so a file
 * that opens more connections to it (a queue) uses createTestDb itself.
 */
export function useTestDb(): TestDb {
  return useForFile('the test database', createTestDb, (db) => db.drop()).instance;
}

/**
 * A test SMTP sink for the file: started in beforeAll, closed in afterAll.
 * `resetAfterEach` forgets its messages and behaviours after every test.
 */
export function useTestSink(opts: { resetAfterEach?: boolean } = {}): TestSink {
  const { instance, current } = useForFile('the test sink', startTestSink, (sink) => sink.close());
  if (opts.resetAfterEach) afterEach(() => current()?.reset());
  return instance;
}

/**
 * The set-up of most integration files: the service (startTestService: its own database,
 * workers unless `workers: false`) pointed at a test SMTP sink, both started in beforeAll and,
 * the service first, stopped in afterAll. Pass `sink` (another call's) to share it: it is then
 * not this call's to reset or close. A file's own hooks declared after this call run after
 * these (jest runs before- and after-hooks in declaration order).
 */
export function useTestService(opts: ServiceOpts & { sink?: TestSink; resetSinkAfterEach?: boolean } = {}): { svc: TestService; sink: TestSink } {
  const { sink: shared, resetSinkAfterEach, ...serviceOpts } = opts;
  let ownSink: TestSink | undefined;
  let svc: TestService | undefined;
  const sink = shared ?? lateBound('the test sink', () => ownSink);
  beforeAll(async () => {
    if (!shared) ownSink = await startTestSink();
    svc = await startTestService({ smtpUrl: sink.url, ...serviceOpts });
  });
  afterAll(async () => {
    await svc?.stop();
    await ownSink?.close();
    svc = ownSink = undefined;
  });
  if (resetSinkAfterEach && !shared) afterEach(() => ownSink?.reset());
  return { svc: lateBound('the test service', () => svc), sink };
}
