// zlib from Debian's zlib1g-dev: deflate/inflate and CRC-32 for checkpoints.
#include <zlib.h>
