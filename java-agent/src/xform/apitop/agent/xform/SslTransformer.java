package apitop.agent.xform;

import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Rewrites the JSSE methods at the plaintext boundary to call apitop.agent.boot.Hooks.
 *
 * <p>Loaded in the agent's own class loader together with Debian's ASM (see README: an
 * application that bundles another ASM never sees this one). The injected code only pushes
 * arguments and calls a static hook: no branches, no handlers, so the methods' existing stack
 * map frames stay valid; the one new local (the engine's buffer positions) is added to the
 * frames by ASM's LocalVariablesSorter. A class that does not look as expected (a method missing)
 * is returned unchanged and reported through {@link #missing}.
 */
public final class SslTransformer implements ClassFileTransformer {
    static final String HOOKS = "apitop/agent/boot/Hooks";
    static final String SOCKET = "sun/security/ssl/SSLSocketImpl";
    static final String IN = "sun/security/ssl/SSLSocketImpl$AppInputStream";
    static final String OUT = "sun/security/ssl/SSLSocketImpl$AppOutputStream";
    static final String ENGINE = "sun/security/ssl/SSLEngineImpl";
    /** ASM 9.4 reads class files up to Java 20; newer ones are read with this version (below). */
    private static final int ASM_MAX_MAJOR = 64;

    /** Methods not found in the last transformed classes ("" when all were found). */
    public volatile String missing = "";

    @Override
    public byte[] transform(
            Module module, ClassLoader loader, String name, Class<?> redefined,
            ProtectionDomain pd, byte[] bytes) {
        if (loader != null || name == null || !name.startsWith("sun/security/ssl/SSL")) {
            return null;
        }
        if (!name.equals(SOCKET) && !name.equals(IN) && !name.equals(OUT)
                && !name.equals(ENGINE)) {
            return null;
        }
        try {
            return rewrite(name, bytes);
        } catch (Throwable t) {
            missing = missing + " " + name + ": " + t;
            return null; // unchanged: the class keeps working, just not captured
        }
    }

    private byte[] rewrite(String name, byte[] original) {
        // A JDK newer than ASM: same constant pool tags and attributes for these classes since
        // Java 11, so read them as version 64 and write the original version back.
        int major = ((original[6] & 0xFF) << 8) | (original[7] & 0xFF);
        byte[] in = original;
        if (major > ASM_MAX_MAJOR) {
            in = original.clone();
            in[6] = 0;
            in[7] = (byte) ASM_MAX_MAJOR;
        }
        ClassReader reader = new ClassReader(in);
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        Visitor v = new Visitor(writer, name, major);
        reader.accept(v, ClassReader.EXPAND_FRAMES);
        if (v.hooked == 0) {
            missing = missing + " " + name;
            return null;
        }
        return writer.toByteArray();
    }

    private static final class Visitor extends ClassVisitor {
        final String owner;
        final int major;
        int hooked;

        Visitor(ClassVisitor cv, String owner, int major) {
            super(Opcodes.ASM9, cv);
            this.owner = owner;
            this.major = major;
        }

        @Override
        public void visit(int version, int access, String name, String sig, String sup,
                String[] ifs) {
            // The class file's own version (minor bits kept), whatever ASM was shown.
            super.visit((version & 0xFFFF0000) | major, access, name, sig, sup, ifs);
        }

        @Override
        public MethodVisitor visitMethod(int access, String name, String desc, String sig,
                String[] exceptions) {
            MethodVisitor mv = super.visitMethod(access, name, desc, sig, exceptions);
            MethodVisitor hooked = hook(mv, access, name, desc);
            if (hooked != mv) {
                this.hooked++;
            }
            return hooked;
        }

        private MethodVisitor hook(MethodVisitor mv, int access, String name, String desc) {
            switch (owner) {
                case IN:
                    if (name.equals("read") && desc.equals("([BII)I")) {
                        return new SocketRead(mv, access, name, desc);
                    }
                    break;
                case OUT:
                    if (name.equals("write") && desc.equals("([BII)V")) {
                        return new SocketWrite(mv, access, name, desc);
                    }
                    break;
                case SOCKET:
                    if (name.equals("close") && desc.equals("()V")) {
                        return new SocketClose(mv, access, name, desc);
                    }
                    break;
                case ENGINE:
                    if (name.equals("wrap") && desc.equals(
                            "([Ljava/nio/ByteBuffer;IILjava/nio/ByteBuffer;)"
                                    + "Ljavax/net/ssl/SSLEngineResult;")) {
                        return new EngineCall(mv, access, name, desc, true);
                    }
                    if (name.equals("unwrap") && desc.equals(
                            "(Ljava/nio/ByteBuffer;[Ljava/nio/ByteBuffer;II)"
                                    + "Ljavax/net/ssl/SSLEngineResult;")) {
                        return new EngineCall(mv, access, name, desc, false);
                    }
                    break;
                default:
                    break;
            }
            return mv;
        }
    }

    /** AppInputStream.read(b, off, len): before each `ireturn n`, Hooks.sockRead(n, this$0, b, off). */
    private static final class SocketRead extends AdviceAdapter {
        SocketRead(MethodVisitor mv, int access, String name, String desc) {
            super(Opcodes.ASM9, mv, access, name, desc);
        }

        @Override
        protected void onMethodExit(int opcode) {
            if (opcode != IRETURN) {
                return;
            }
            dup();
            outerSocket(this, IN);
            loadArg(0);
            loadArg(1);
            invokeStatic(Type.getObjectType(HOOKS),
                    new org.objectweb.asm.commons.Method(
                            "sockRead", "(ILjavax/net/ssl/SSLSocket;[BI)V"));
        }
    }

    /**
     * AppOutputStream.write(b, off, len): at entry, Hooks.sockWrite(this$0, b, off, len). At
     * entry rather than at return: the request is then queued before its bytes leave the JVM, so
     * a response read by another thread can never be queued ahead of it.
     */
    private static final class SocketWrite extends AdviceAdapter {
        SocketWrite(MethodVisitor mv, int access, String name, String desc) {
            super(Opcodes.ASM9, mv, access, name, desc);
        }

        @Override
        protected void onMethodEnter() {
            outerSocket(this, OUT);
            loadArg(0);
            loadArg(1);
            loadArg(2);
            invokeStatic(Type.getObjectType(HOOKS),
                    new org.objectweb.asm.commons.Method(
                            "sockWrite", "(Ljavax/net/ssl/SSLSocket;[BII)V"));
        }
    }

    /** SSLSocketImpl.close(): at entry, Hooks.sockClose(this). */
    private static final class SocketClose extends AdviceAdapter {
        SocketClose(MethodVisitor mv, int access, String name, String desc) {
            super(Opcodes.ASM9, mv, access, name, desc);
        }

        @Override
        protected void onMethodEnter() {
            loadThis();
            invokeStatic(Type.getObjectType(HOOKS),
                    new org.objectweb.asm.commons.Method(
                            "sockClose", "(Ljavax/net/ssl/SSLSocket;)V"));
        }
    }

    /**
     * SSLEngineImpl.wrap(srcs, off, len, dst) / unwrap(src, dsts, off, len): at entry the
     * application buffers' positions go into a new local; before `areturn result`,
     * Hooks.eng{Wrap,Unwrap}Exit(result, this, bufs, off, len, positions).
     */
    private static final class EngineCall extends AdviceAdapter {
        final boolean wrap;
        int positions;

        EngineCall(MethodVisitor mv, int access, String name, String desc, boolean wrap) {
            super(Opcodes.ASM9, mv, access, name, desc);
            this.wrap = wrap;
        }

        private void loadBuffers() {
            // wrap: (srcs, off, len, dst) -> args 0,1,2; unwrap: (src, dsts, off, len) -> 1,2,3
            int first = wrap ? 0 : 1;
            loadArg(first);
            loadArg(first + 1);
            loadArg(first + 2);
        }

        @Override
        protected void onMethodEnter() {
            positions = newLocal(Type.getType("[I"));
            loadBuffers();
            invokeStatic(Type.getObjectType(HOOKS),
                    new org.objectweb.asm.commons.Method(
                            "engEnter", "([Ljava/nio/ByteBuffer;II)[I"));
            storeLocal(positions);
        }

        @Override
        protected void onMethodExit(int opcode) {
            if (opcode != ARETURN) {
                return;
            }
            dup();
            loadThis();
            loadBuffers();
            loadLocal(positions);
            invokeStatic(Type.getObjectType(HOOKS),
                    new org.objectweb.asm.commons.Method(
                            wrap ? "engWrapExit" : "engUnwrapExit",
                            "(Ljavax/net/ssl/SSLEngineResult;Ljavax/net/ssl/SSLEngine;"
                                    + "[Ljava/nio/ByteBuffer;II[I)V"));
        }
    }

    /** Pushes the enclosing SSLSocketImpl of an inner stream class (its this$0 field). */
    static void outerSocket(AdviceAdapter m, String inner) {
        m.loadThis();
        m.visitFieldInsn(Opcodes.GETFIELD, inner, "this$0", "L" + SOCKET + ";");
    }
}
