import { KubecacheError } from '../../errors.js';

/**
 * Loads a client library the user installs themselves (an optional peer
 * dependency), turning "Cannot find module" into what to install. The import
 * is passed in so bundlers and TypeScript's CommonJS output keep it a plain
 * import()/require() of a literal name.
 */
export async function loadPeer<T>(pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new KubecacheError(
        'BAD_OPTION',
        `The cache client needs the "${pkg}" package, which is not installed. ` +
          `Install it in this project (npm install --save-dev ${pkg}) or choose the other client with the "client" option.`,
        { field: 'client', package: pkg },
        { cause: err },
      );
    }
    throw err;
  }
}
