package apitop.agent;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarInputStream;

/**
 * An isolated class loader for the transformer and its ASM, read from a jar nested in the agent
 * jar. Its parent is the platform loader, so neither the application's classes (which may bundle
 * another ASM) are seen from here nor ours from there: no relocation step needed at build time.
 */
final class NestedLoader extends ClassLoader {
    private final Map<String, byte[]> classes = new HashMap<>();

    NestedLoader(InputStream jar) throws IOException {
        super("apitop-agent-xform", ClassLoader.getPlatformClassLoader());
        try (JarInputStream in = new JarInputStream(jar)) {
            for (JarEntry e; (e = in.getNextJarEntry()) != null; ) {
                String n = e.getName();
                if (n.endsWith(".class") && !n.endsWith("module-info.class")) {
                    String cls = n.substring(0, n.length() - 6).replace('/', '.');
                    classes.put(cls, in.readAllBytes());
                }
            }
        }
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
        byte[] b;
        synchronized (classes) {
            b = classes.remove(name); // defined once; the bytes are not needed afterwards
        }
        if (b == null) {
            throw new ClassNotFoundException(name);
        }
        return defineClass(name, b, 0, b.length);
    }
}
