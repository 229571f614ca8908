/* moat run */
#include "cmd.h"

int
cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("run");
}
