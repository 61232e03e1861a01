import { jestSessions } from './global-setup.js';

/** Jest globalTeardown (part of `preset: 'kubecache'`): deletes the run's cache pods. */
export default async function globalTeardown(): Promise<void> {
  await jestSessions().pop()?.release();
}
