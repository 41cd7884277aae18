/**
 * The limits of one mail request (PRODUCT §4): createMailRequest checks them, and recipient
 * files, templates and message building hold to the same numbers.
 */
export const LIMITS = {
  recipients: 100_000,
  generalR: 1_000,
  generalC: 30,
  generalB: 30,
  titleBytes: 500,
  bodyBytes: 500 * 1024,
  senderNameBytes: 69,
  recipientNameChars: 69,
  referencesHeaderChars: 100,
  reservationDays: 30,
  /** the custom notice of advertising mail; the basic one is about 300 bytes */
  unsubscribeMessageBytes: 10 * 1024,
  /** per `parameters` object (the request's, and each recipient's): as many as a recipient file's tag columns */
  parameters: 100,
  /** longer names can't be written as a tag (`${...}` holds 1 to 100 characters) */
  parameterNameChars: 100,
  /** a longer value can't fit in any body */
  parameterValueBytes: 500 * 1024,
} as const;
