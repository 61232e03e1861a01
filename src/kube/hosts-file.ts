/**
 * Finds a pod's IP in the /etc/hosts the kubelet writes into every
 * non-hostNetwork container ("<ip>\t<hostname>"). Reading it through exec
 * tells the IP as soon as the container runs, while the API's status.podIP
 * waits for the kubelet's next status sync (up to one PLEG relist, 1 s).
 */
export function podIPFromHosts(text: string, hostname: string): string | undefined {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [ip, ...names] = fields;
    if (!ip || ip.startsWith('#') || !names.includes(hostname)) continue;
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || ip.includes(':')) return ip;
  }
  return undefined;
}
