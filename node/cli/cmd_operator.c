/* `starling operator-keygen FILE`: a new operator key pair. The secret key
 * signs catalog writes (`deploy`, `scale`, `rm` with --operator-secret); the
 * public key is what agents trust (--operator-key, DATA_DIR/operator-keys). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "starling/catalog.h"

static const char usage[] =
    "Usage: starling operator-keygen FILE\n\n"
    "Creates an operator key pair for signing the cluster's desired state. Writes\n"
    "the secret key to FILE (a new file, mode 0600; an existing file is never\n"
    "overwritten) and prints the public key (base64) on stdout. Give the public key\n"
    "to every agent (--operator-key PUB, or a line in DATA_DIR/operator-keys); sign\n"
    "writes with `starling deploy|scale|rm --operator-secret FILE` (or set\n"
    "STARLING_OPERATOR_SECRET=FILE). Keep FILE off the machines that run agents: a\n"
    "compromised agent then cannot sign anything.\n";

int sl__cmd_operator_keygen(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "starling operator-keygen: %s\n%s",
                argc < 2   ? "missing FILE"
                : argc > 2 ? "one FILE only"
                           : "unknown option",
                usage);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "starling operator-keygen: cannot initialise libsodium\n");
        return 1;
    }
    uint8_t pk[SL_OPERATOR_PUB_BYTES], sk[SL_OPERATOR_SEC_BYTES];
    char sk_text[sodium_base64_ENCODED_LEN(SL_OPERATOR_SEC_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char pk_text[sodium_base64_ENCODED_LEN(SL_OPERATOR_PUB_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    crypto_sign_keypair(pk, sk);
    sodium_bin2base64(sk_text, sizeof sk_text, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pk_text, sizeof pk_text, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(sk, sizeof sk);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "starling operator-keygen: cannot create %s: %s\n", argv[1],
                strerror(errno));
        sodium_memzero(sk_text, sizeof sk_text);
        return 1;
    }
    size_t n = strlen(sk_text);
    sk_text[n] = '\n';
    ssize_t w = write(fd, sk_text, n + 1);
    int e = errno;
    sodium_memzero(sk_text, sizeof sk_text);
    if (w != (ssize_t)(n + 1) || fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "starling operator-keygen: cannot write %s: %s\n", argv[1],
                strerror(w < 0 ? e : EIO));
        unlink(argv[1]);
        return 1;
    }
    printf("%s\n", pk_text);
    return 0;
}
