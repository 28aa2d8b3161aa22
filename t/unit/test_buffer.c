#include <ngx_config.h>
#include <ngx_core.h>
int main(void) { return 0; }
