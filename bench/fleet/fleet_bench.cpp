// The fleet simulation's scenario table (issue 16). Being written: see bench/fleet/account.h.
int main() { return 0; }
