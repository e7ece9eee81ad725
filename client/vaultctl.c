/* vaultctl: being written. */
#include <stdio.h>
int main(void) { fprintf(stderr, "vaultctl: not built yet\n"); return 2; }
