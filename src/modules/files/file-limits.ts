/** Attachment limits (no imports: the console's send screen explains and checks the same numbers). */
export const MB = 1024 * 1024;

export const FILE_LIMITS = {
  /** one file (NCP: "10 MB 이하") */
  fileBytes: 10 * MB,
  filesPerUpload: 20,
  /** all attachments of one mail */
  mailBytes: 20 * MB,
  filesPerMail: 100,
  nameChars: 255,
  /** an upload no request can still send is removed this long after it was made */
  keepUnusedMs: 24 * 3600 * 1000,
} as const;
