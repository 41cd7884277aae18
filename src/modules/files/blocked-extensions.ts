/**
 * Extensions refused as attachments, on their own and inside a .zip: executables,
 * scripts, installers and the like, which mail providers block or quarantine anyway.
 */
export const BLOCKED_EXTENSIONS: ReadonlySet<string> = new Set([
  'bat',
  'cmd',
  'com',
  'cpl',
  'exe',
  'scr',
  'js',
  'vbs',
  'ocx',
  'pif',
  'msi',
  'efi',
  'fon',
  'drv',
  'dll',
  'sys',
  'app',
  'dmg',
  'ipa',
  'apk',
  'jar',
  'wsh',
  'reg',
  'hlp',
  'lnk',
  'wsf',
  'scf',
  'swf',
  'cab',
]);

/** The last path segment of a name as a client or an archive gives it ("C:\\x\\a.txt", "dir/a.txt"). */
export function baseName(name: string): string {
  const parts = name.split(/[/\\]/);
  return parts[parts.length - 1] ?? '';
}

/**
 * The blocked extension of a file name, or undefined. Windows ignores trailing dots and spaces
 * ("setup.exe." runs as setup.exe), so they are ignored here too; case does not matter.
 */
export function blockedExtension(name: string): string | undefined {
  const base = baseName(name).replace(/[.\s]+$/u, '');
  const dot = base.lastIndexOf('.');
  if (dot < 0) return undefined;
  const ext = base.slice(dot + 1).toLowerCase();
  return BLOCKED_EXTENSIONS.has(ext) ? ext : undefined;
}
