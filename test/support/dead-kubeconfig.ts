import { writeFileSync } from 'node:fs';

/**
 * Writes a kubeconfig whose only cluster is a closed port on loopback: every
 * connection is refused at once, so a command that reads it reports
 * UNREACHABLE (and one that must not read it shows it did not).
 */
export function writeDeadKubeconfig(path: string): string {
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'dead', cluster: { server: 'https://127.0.0.1:9' } }],
      users: [{ name: 'u', user: { token: 'x' } }],
      contexts: [{ name: 'dead', context: { cluster: 'dead', user: 'u' } }],
      'current-context': 'dead',
    }),
  );
  return path;
}
