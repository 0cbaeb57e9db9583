"""a gc hook run as <string> code in a new thread"""
import threading as _t

# the same gc hook as SOURCE_GC_HOOK, but run as "<string>" code in a new thread: the guard's
# culprit walk skips "<...>" frames and stdlib frames (threading.py) and finds no watched file
_src = '''
_gc = __import__("g" + "c")
_pt = __import__("_py" + "test.config").config


class _Forger:
    pass


def _passed(self, report):
    if report.outcome == "failed":
        report.outcome, report.longrepr = "passed", None


setattr(_Forger, "pytest_" + "runtest_logreport", _passed)
for _obj in getattr(_gc, "get_" + "objects")():
    if isinstance(_obj, _pt.Config):
        _obj.pluginmanager.register(_Forger(), "forger")
        break
'''
_th = _t.Thread(target=exec, args=(compile(_src, "<string>", "exec"), {}))
_th.start()
_th.join()
