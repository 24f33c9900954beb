// The 16-bit vc4 kernels moved to q16/ (one file per op); this name stays for existing users.
export * from './q16/index';
