// vc4stats VERTEX FRAGMENT...: compiles each GLSL ES 1.00 fragment shader with the GL driver that EGL
// loads (run by vc4stats.sh: Mesa's vc4 driver over its no-op DRM shim) and prints, per shader, the
// driver's shader-db line (VC4_DEBUG=shaderdb reports it through KHR_debug) or why it failed.
// One draw per program makes the driver compile the variant it would run; nothing reaches a GPU.
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>
#include <stdio.h>
#include <stdlib.h>

static const char *shader_file = "";

static void GL_APIENTRY on_message(GLenum src, GLenum type, GLuint id, GLenum sev, GLsizei len, const GLchar *text, const void *user) {
  (void)src; (void)type; (void)id; (void)sev; (void)len; (void)user;
  printf("%s\t%s\n", shader_file, text);
}

static char *read_all(const char *name) {
  FILE *f = fopen(name, "rb");
  if (!f) { perror(name); exit(1); }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  char *text = malloc(size + 1);
  if (fread(text, 1, size, f) != (size_t)size) { perror(name); exit(1); }
  text[size] = 0;
  fclose(f);
  return text;
}

static GLuint shader(GLenum kind, const char *name) {
  const char *text = read_all(name);
  GLuint s = glCreateShader(kind);
  glShaderSource(s, 1, &text, NULL);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char info[4096] = "";
    glGetShaderInfoLog(s, sizeof info, NULL, info);
    printf("%s\tCOMPILE FAILED: %s\n", name, info);
  }
  return s;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: vc4stats VERTEX FRAGMENT...\n"); return 2; }
  PFNEGLGETPLATFORMDISPLAYEXTPROC platform_display = (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
  EGLDisplay dpy = platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
  EGLint major, minor;
  if (!eglInitialize(dpy, &major, &minor)) { printf("eglInitialize failed\n"); return 1; }
  eglBindAPI(EGL_OPENGL_ES_API);
  const EGLint attribs[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_CONTEXT_FLAGS_KHR, EGL_CONTEXT_OPENGL_DEBUG_BIT_KHR, EGL_NONE };
  EGLContext ctx = eglCreateContext(dpy, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, attribs);
  if (ctx == EGL_NO_CONTEXT) { printf("eglCreateContext failed: 0x%x\n", eglGetError()); return 1; }
  eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx);
  printf("renderer\t%s\n", (const char *)glGetString(GL_RENDERER));
  GLint vectors = 0;
  glGetIntegerv(GL_MAX_FRAGMENT_UNIFORM_VECTORS, &vectors);
  printf("MAX_FRAGMENT_UNIFORM_VECTORS\t%d\n", vectors);
  PFNGLDEBUGMESSAGECALLBACKKHRPROC set_callback = (PFNGLDEBUGMESSAGECALLBACKKHRPROC)eglGetProcAddress("glDebugMessageCallbackKHR");
  if (!set_callback) { printf("no KHR_debug: the driver cannot report shader statistics\n"); return 1; }
  glEnable(GL_DEBUG_OUTPUT_KHR);
  glEnable(GL_DEBUG_OUTPUT_SYNCHRONOUS_KHR);
  set_callback(on_message, NULL);
  GLuint vs = shader(GL_VERTEX_SHADER, argv[1]);
  for (int i = 2; i < argc; i++) {
    shader_file = argv[i];
    GLuint fs = shader(GL_FRAGMENT_SHADER, argv[i]);
    GLuint prog = glCreateProgram();
    glAttachShader(prog, vs);
    glAttachShader(prog, fs);
    glBindAttribLocation(prog, 0, "a_pos");
    glLinkProgram(prog);
    GLint ok = 0;
    glGetProgramiv(prog, GL_LINK_STATUS, &ok);
    if (!ok) {
      char info[4096] = "";
      glGetProgramInfoLog(prog, sizeof info, NULL, info);
      printf("%s\tLINK FAILED: %s\n", argv[i], info);
    }
    glUseProgram(prog);
    glDrawArrays(GL_TRIANGLES, 0, 3);
    glFinish();
    glDeleteProgram(prog);
    glDeleteShader(fs);
  }
  return 0;
}
