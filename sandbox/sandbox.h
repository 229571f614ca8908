/* sandbox: see ARCHITECTURE.md. */
#ifndef MOAT_SANDBOX_H
#define MOAT_SANDBOX_H

#include "util.h"

#endif
