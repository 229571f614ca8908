/* runtime */
#include "runtime.h"
