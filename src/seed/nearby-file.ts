import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { closest } from '../config/validate.js';

/**
 * The next step for a seed path that names no file, in the user's terms: the
 * file of that directory whose name is one typo away ("users.json" for
 * "user.json"), or that the directory itself is missing. Empty when neither
 * helps; never fails (it only makes a message better).
 */
export async function missingFileHint(absolute: string): Promise<string> {
  const dir = dirname(absolute);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? ` The directory ${dir} does not exist.` : '';
  }
  const match = closest(basename(absolute), names);
  return match === undefined ? '' : ` Did you mean ${join(dir, match)}?`;
}
