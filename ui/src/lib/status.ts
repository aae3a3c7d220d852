/** Worse is higher: for sorting services worst first. */
export const STATUS_RANK: Record<string, number> = { healthy: 0, unknown: 1, degraded: 2, unhealthy: 3 };
