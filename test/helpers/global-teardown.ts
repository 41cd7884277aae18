import fs from 'node:fs/promises';
import { adminQuery } from './pg-admin.ts';

export default async function globalTeardown() {
  const adminUrl = process.env.TEST_ADMIN_URL;
  const template = process.env.TEST_TEMPLATE_DB;
  if (adminUrl && template) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => undefined);
  const state = (globalThis as Record<string, unknown>).__embeddedPg as { embedded: { stop(): Promise<void> }; dir: string } | undefined;
  // Both projects (integration, browser) name this teardown: the second finds nothing left.
  delete process.env.TEST_TEMPLATE_DB;
  delete (globalThis as Record<string, unknown>).__embeddedPg;
  if (state) {
    await state.embedded.stop();
    await fs.rm(state.dir, { recursive: true, force: true });
  }
}
