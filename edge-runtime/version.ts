/** The package version; a test checks it equals package.json's. */
export const VERSION: string = '0.1.0';
