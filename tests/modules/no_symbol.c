/* no_symbol.c -- a shared object without the netcore_module symbol, for the
 * loader's tests. */
int not_a_module(void);
__attribute__((visibility("default"))) int not_a_module(void)
{
    return 42;
}
