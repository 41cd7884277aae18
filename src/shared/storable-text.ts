/**
 * Text as a PostgreSQL text column can hold it: without NUL (U+0000), which PostgreSQL refuses
 * (the whole statement fails). For text that comes from outside and is stored as it is: an SMTP
 * server's reply, a delivery report's.
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '');
}
