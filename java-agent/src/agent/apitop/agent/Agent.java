package apitop.agent;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarFile;

/**
 * apitop's Java agent: loaded into a running JVM (Agent-Class) by apitop's attach, it makes JSSE
 * hand its plaintext to apitop over a Unix socket (protocol v1, see README.md).
 *
 * <p>Options: {@code sock=<path>,token=<hex>}. The first load appends the hook classes to the
 * bootstrap class path, lets java.base read them, and retransforms the JSSE classes; a later load
 * (a new apitop session) finds the hooks installed and only connects to its socket. Nothing here
 * throws into the JVM: a failure leaves the application as it was, and is reported on stderr
 * only when {@code debug=1} is given.
 */
public final class Agent {
    private static final String HOOKS = "apitop.agent.boot.Hooks";
    private static final String[] TARGETS = {
        "sun.security.ssl.SSLSocketImpl",
        "sun.security.ssl.SSLSocketImpl$AppInputStream",
        "sun.security.ssl.SSLSocketImpl$AppOutputStream",
        "sun.security.ssl.SSLEngineImpl",
    };

    private Agent() {}

    public static void agentmain(String args, Instrumentation inst) {
        start(args, inst);
    }

    public static void premain(String args, Instrumentation inst) {
        start(args, inst);
    }

    private static void start(String args, Instrumentation inst) {
        boolean debug = false;
        try {
            String sock = null;
            String token = null;
            for (String kv : (args == null ? "" : args).split(",")) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    continue;
                }
                String k = kv.substring(0, eq).trim();
                String v = kv.substring(eq + 1).trim();
                if (k.equals("sock")) {
                    sock = v;
                } else if (k.equals("token")) {
                    token = v;
                } else if (k.equals("debug")) {
                    debug = v.equals("1");
                } // unknown keys: ignored, for a newer apitop talking to this agent
            }
            if (sock == null || token == null) {
                log(debug, "missing sock= or token= in options");
                return;
            }
            Class<?> hooks = bootHooks(inst);
            if (!(Boolean) hooks.getMethod("isInstalled").invoke(null)) {
                String problem = install(inst, hooks);
                log(debug, problem.isEmpty() ? "hooks installed" : "hooks installed; " + problem);
            } else {
                log(debug, "hooks already installed; reconnecting");
            }
            Object err = hooks.getMethod("connect", String.class, String.class)
                    .invoke(null, sock, token);
            log(debug, err == null ? "connected to " + sock : (String) err);
        } catch (Throwable t) {
            log(debug, "not started: " + t);
        }
    }

    /** The Hooks class from the bootstrap loader, appending the boot jar the first time. */
    private static Class<?> bootHooks(Instrumentation inst) throws Exception {
        try {
            return Class.forName(HOOKS, true, null);
        } catch (ClassNotFoundException first) {
            // Written to a private file (0600, random name): the boot class path must be a jar
            // on disk, and a predictable name in /tmp could be planted by another user.
            Path jar = Files.createTempFile("apitop-boot-", ".jar",
                    PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rw-------")));
            try (InputStream in = resource("apitop-lib/boot.jar");
                    OutputStream out = Files.newOutputStream(jar)) {
                in.transferTo(out);
            }
            jar.toFile().deleteOnExit();
            inst.appendToBootstrapClassLoaderSearch(new JarFile(jar.toFile()));
            return Class.forName(HOOKS, true, null);
        }
    }

    /** Instruments JSSE; returns "" or what could not be done. */
    private static String install(Instrumentation inst, Class<?> hooks) throws Exception {
        // The instrumented classes are in java.base, which reads only the modules it declares:
        // let it read the bootstrap loader's unnamed module, where Hooks lives.
        Module base = Object.class.getModule();
        inst.redefineModule(base, Set.of(hooks.getModule()), Map.of(), Map.of(), Set.of(),
                Map.of());
        ClassLoader isolated = new NestedLoader(resource("apitop-lib/xform.jar"));
        ClassFileTransformer t = (ClassFileTransformer) isolated
                .loadClass("apitop.agent.xform.SslTransformer").getConstructor().newInstance();
        // Kept registered: a later retransformation by anyone re-applies the hooks, and a JSSE
        // class loaded later (none is missing after the loop below) would get them too.
        inst.addTransformer(t, true);
        try {
            List<Class<?>> classes = new ArrayList<>();
            for (String name : TARGETS) {
                // Loaded, not initialised: a JVM that has not used TLS yet gets its classes
                // hooked now, so that the JSSE state is the same whatever the timing.
                classes.add(Class.forName(name, false, null));
            }
            inst.retransformClasses(classes.toArray(new Class<?>[0]));
        } catch (Throwable e) {
            // Nothing was retransformed; unregistered, so that a later load cannot hook twice.
            inst.removeTransformer(t);
            throw e;
        }
        hooks.getMethod("markInstalled").invoke(null);
        return (String) t.getClass().getField("missing").get(t);
    }

    private static InputStream resource(String name) throws java.io.IOException {
        InputStream in = Agent.class.getClassLoader().getResourceAsStream(name);
        if (in == null) {
            throw new java.io.FileNotFoundException(name + " in the agent jar");
        }
        return in;
    }

    private static void log(boolean debug, String msg) {
        if (debug) {
            System.err.println("apitop-agent: " + msg);
        }
    }
}
