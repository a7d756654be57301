// Status codes returned by kernels that can fail on valid input.
// 0 always means success. Keep in sync with src/wasm/status.ts (tests/wasm/status.test.ts checks).

/** The kernel finished normally. */
export const STATUS_OK: i32 = 0;
/** A division by zero or a singular system was met; outputs are unspecified. */
export const STATUS_SINGULAR: i32 = 1;
