import { describe, expect, it } from 'vitest';
import { HealingWindow, retryDelay, TunnelLiveness } from '../../src/kube/tunnel-liveness.js';

describe('TunnelLiveness', () => {
  const times = { pingIntervalMs: 1000, deadAfterMs: 5000 };

  it('is alive until it has been silent for longer than deadAfterMs', () => {
    const l = new TunnelLiveness(times, 0);
    expect(l.dead(5000)).toBe(false);
    expect(l.dead(5001)).toBe(true);
  });

  it('a pong or data pushes the deadline out', () => {
    const l = new TunnelLiveness(times, 0);
    l.alive(4000);
    expect(l.dead(8000)).toBe(false);
    expect(l.dead(9001)).toBe(true);
  });
});

describe('HealingWindow', () => {
  it('gives a connection healMs from now while tunnels open', () => {
    const w = new HealingWindow(30_000);
    expect(w.deadline(1000)).toBe(31_000);
    expect(w.failingFor(1000)).toBe(0);
  });

  it('counts the window from the first failure, so reconnects do not extend it', () => {
    const w = new HealingWindow(30_000);
    w.failed(1000, new Error('ECONNREFUSED'));
    w.failed(20_000, new Error('ECONNREFUSED'));
    expect(w.deadline(25_000)).toBe(31_000);
    expect(w.failingFor(25_000)).toBe(24_000);
    expect(w.lastError?.message).toBe('ECONNREFUSED');
  });

  it('a tunnel that opens closes the window', () => {
    const w = new HealingWindow(30_000);
    w.failed(1000, new Error('ECONNREFUSED'));
    w.opened();
    expect(w.failingFor(50_000)).toBe(0);
    expect(w.deadline(50_000)).toBe(80_000);
    expect(w.lastError).toBeUndefined();
  });
});

describe('retryDelay', () => {
  it('doubles from 100 ms and stays at 1 s', () => {
    expect([0, 1, 2, 3, 4, 10].map(retryDelay)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});
