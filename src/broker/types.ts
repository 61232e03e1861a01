export type {
  AcquireRequest,
  CacheLease,
  LeaseState,
  LeaseStatus,
  OutageRequest,
  OutageResult,
  SeedRequest,
} from '../worker/protocol.js';

export interface TeardownReport {
  deletedPods: string[];
  remaining: string[];
  ms: number;
}
