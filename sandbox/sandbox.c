/* sandbox */
#include "sandbox.h"
