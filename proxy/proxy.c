/* proxy */
#include "proxy.h"
