/* runtime: see ARCHITECTURE.md. */
#ifndef MOAT_RUNTIME_H
#define MOAT_RUNTIME_H

#include "util.h"

#endif
